-- When each lead first reached each funnel stage. A stage is reached at its first entry in
-- the stage history or when any later stage was reached, whichever is earlier: a lead that
-- skipped a stage passed it (sales created the deal without an SQL status, say). The
-- opportunity stage is also reached when the lead's first deal was created, the customer
-- stage when its first deal was won. A stage dated before the lead was created (an import,
-- a merge, a clock in another time zone) is reached at the lead's creation: the lead and its
-- stages stay in the lead's month. The same definition as
-- gtm_assets.analytics.funnel.lead_stage_entries (funnel, lead scoring); a test holds the
-- two equal. No as-of cut is needed to count the leads that reached a stage in a month
-- before the cut: a first time before the cut is the same with or without later rows.
-- Built with staging (intermediate.lead_stage_reached).
with

history as (
    select
        lead_id,
        min(entered_at) filter (where stage = 'mql') as mql_entered_at,
        min(entered_at) filter (where stage = 'sql') as sql_entered_at,
        min(entered_at) filter (where stage = 'opportunity') as opportunity_entered_at,
        min(entered_at) filter (where stage = 'customer') as customer_entered_at
    from staging.lead_stage_history
    group by lead_id
),

deals as (
    select
        lead_id,
        min(created_at) as first_deal_at,
        min(closed_at) filter (where is_won) as first_won_at
    from staging.opportunities
    group by lead_id
),

recorded as (
    select
        l.lead_id,
        l.created_at,
        h.mql_entered_at,
        h.sql_entered_at,
        least(h.opportunity_entered_at, d.first_deal_at) as opportunity_own_at,
        least(h.customer_entered_at, d.first_won_at) as customer_at
    from staging.leads as l
    left join history as h on h.lead_id = l.lead_id
    left join deals as d on d.lead_id = l.lead_id
),

-- greatest() skips NULLs: a stage never reached stays NULL only through the case
own_stages as (
    select
        lead_id,
        created_at,
        case when mql_entered_at is not null then greatest(mql_entered_at, created_at) end
            as mql_entered_at,
        case when sql_entered_at is not null then greatest(sql_entered_at, created_at) end
            as sql_entered_at,
        case when opportunity_own_at is not null
            then greatest(opportunity_own_at, created_at)
        end as opportunity_own_at,
        case when customer_at is not null then greatest(customer_at, created_at) end
            as customer_at
    from recorded
),

final as (
    select
        lead_id,
        created_at,
        least(mql_entered_at, sql_entered_at, opportunity_own_at, customer_at) as mql_at,
        least(sql_entered_at, opportunity_own_at, customer_at) as sql_at,
        least(opportunity_own_at, customer_at) as opportunity_at,
        customer_at
    from own_stages
)

select * from final
