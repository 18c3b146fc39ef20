-- quarterly trends input: the whole funnel's stage conversion per month of the quarter
-- (marts.funnel_stages, segment all) and whether the stage was flagged as a bottleneck.
with

stages as (
    select month, from_stage, to_stage, entered, converted, conversion_rate, period_rate
    from marts.funnel_stages
    where segment_type = 'all' and month >= $quarter_start and month < $quarter_end
),

flags as (
    select
        month,
        from_stage,
        to_stage,
        bool_or(flagged) as flagged,
        max(baseline_rate) as baseline_rate,
        max(target_rate) as target_rate,
        sum(shortfall_units) as shortfall_units,
        sum(downstream_customers_lost) as downstream_customers_lost
    from marts.funnel_bottlenecks
    where segment_type = 'all' and month >= $quarter_start and month < $quarter_end
    group by all
),

final as (
    select
        s.*,
        coalesce(f.flagged, false) as flagged,
        f.baseline_rate,
        f.target_rate,
        f.shortfall_units,
        f.downstream_customers_lost
    from stages as s
    left join flags as f
        on f.month = s.month and f.from_stage = s.from_stage and f.to_stage = s.to_stage
)

select * from final
order by month, from_stage
