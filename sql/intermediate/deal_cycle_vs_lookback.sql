-- How long the month's deals (opportunity, won) took from their lead, against the
-- attribution lookback: a deal whose lead was created more than $lookback_days before it
-- has its sourcing touches outside its path (unless paths are anchored on the lead).
-- params: $month_start, $month_end (DATE), $lookback_days (INTEGER)
with

lead_created as (
    select lead_id, min(converted_at) as lead_at
    from intermediate.conversions
    where conversion_type = 'lead'
    group by lead_id
),

deals as (
    select
        c.conversion_type,
        coalesce(c.value, 0)::double as value,
        date_diff('day', l.lead_at, c.converted_at) as days_from_lead
    from intermediate.conversions as c
    inner join lead_created as l on l.lead_id = c.lead_id
    where c.conversion_type in ('opportunity', 'won')
        and c.converted_at >= $month_start::timestamp
        and c.converted_at < $month_end::timestamp
),

final as (
    select
        conversion_type,
        count(*) as deals,
        count(*) filter (where days_from_lead > $lookback_days) as deals_outside,
        sum(value) as value,
        coalesce(sum(value) filter (where days_from_lead > $lookback_days), 0) as value_outside,
        median(days_from_lead) as median_days_from_lead,
        quantile_cont(days_from_lead, 0.75) as p75_days_from_lead
    from deals
    group by conversion_type
)

select * from final
order by conversion_type
