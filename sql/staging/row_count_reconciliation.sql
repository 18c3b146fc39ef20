-- Rows in each staging table against its raw table (they must be equal).
with

counts as (
    select 'campaigns' as table_name, (select count(*) from raw.campaigns) as raw_rows, (select count(*) from staging.campaigns) as staging_rows
    union all select 'ad_spend', (select count(*) from raw.ad_spend), (select count(*) from staging.ad_spend)
    union all select 'touchpoints', (select count(*) from raw.touchpoints), (select count(*) from staging.touchpoints)
    union all select 'leads', (select count(*) from raw.leads), (select count(*) from staging.leads)
    union all select 'lead_stage_history', (select count(*) from raw.lead_stage_history), (select count(*) from staging.lead_stage_history)
    union all select 'opportunities', (select count(*) from raw.opportunities), (select count(*) from staging.opportunities)
    union all select 'sales_feedback', (select count(*) from raw.sales_feedback), (select count(*) from staging.sales_feedback)
    union all select 'content', (select count(*) from raw.content), (select count(*) from staging.content)
    union all select 'content_daily', (select count(*) from raw.content_daily), (select count(*) from staging.content_daily)
    union all select 'seo_rankings', (select count(*) from raw.seo_rankings), (select count(*) from staging.seo_rankings)
    union all select 'targets', (select count(*) from raw.targets), (select count(*) from staging.targets)
    union all select 'budget_plan', (select count(*) from raw.budget_plan), (select count(*) from staging.budget_plan)
    union all select 'experiments', (select count(*) from raw.experiments), (select count(*) from staging.experiments)
    union all select 'experiment_units', (select count(*) from raw.experiment_units), (select count(*) from staging.experiment_units)
),

final as (
    select * from counts
)

select * from final
