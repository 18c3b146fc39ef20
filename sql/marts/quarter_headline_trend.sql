-- quarterly trends input: headline metrics per month of the quarter (marts.executive_summary)
-- for lead volume and quality (leads, MQLs, SQLs, MQL -> SQL rate) and the totals.
with

summary as (
    select month, metric, value, target
    from marts.executive_summary
    where month >= $quarter_start and month < $quarter_end
),

final as (
    select
        month,
        max(value) filter (where metric = 'spend') as spend,
        max(value) filter (where metric = 'revenue') as revenue,
        max(value) filter (where metric = 'pipeline') as pipeline,
        max(value) filter (where metric = 'leads') as leads,
        max(value) filter (where metric = 'mqls') as mqls,
        max(value) filter (where metric = 'sqls') as sqls,
        max(value) filter (where metric = 'customers') as customers,
        max(value) filter (where metric = 'sqls')
            / nullif(max(value) filter (where metric = 'mqls'), 0) as mql_to_sql_rate,
        max(value) filter (where metric = 'mqls')
            / nullif(max(value) filter (where metric = 'leads'), 0) as lead_to_mql_rate
    from summary
    group by month
)

select * from final
order by month
