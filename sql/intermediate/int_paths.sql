-- One row per attribution path of one conversion type in one month: who, which window.
--
-- Converting paths: one per conversion of $conversion_type with converted_at in
-- [$month_start, $month_end); window [converted_at - $lookback_days, converted_at), so
-- touches at or after the conversion never count.
-- Non-converting (null) paths: people with at least one counted touch in
-- [$month_start, $month_end) and no conversion of this type at any time before
-- $month_end (still at risk at the month end); window [$month_end - lookback, $month_end).
-- $anchor_on_lead (opportunity and won only): "lead-sourced" paths. A deal's window ends
-- at the creation of the lead that sourced it, and the null paths are those of the lead
-- risk set; what happens between lead and deal (nurture, sales) is left to sales. Off by
-- default: paths end at the conversion.
-- path_id: negative for converting paths (path_key = conversion_id), positive for null
-- paths (path_key = person_id); deterministic. $with_null_paths = false leaves the null
-- paths out (for statistics of the converting paths only).
with

anchored as (
    select $anchor_on_lead and $conversion_type <> 'lead' as on_lead
),

lead_created as (
    select lead_id, min(converted_at) as lead_at
    from intermediate.conversions
    where conversion_type = 'lead'
    group by lead_id
),

conversions as (
    select
        c.conversion_id as path_key,
        c.person_id,
        coalesce(c.value, 0)::double as value,
        case
            when (select on_lead from anchored) then coalesce(l.lead_at, c.converted_at)
            else c.converted_at
        end as path_end
    from intermediate.conversions as c
    left join lead_created as l on l.lead_id = c.lead_id
    where c.conversion_type = $conversion_type
        and c.converted_at >= $month_start::timestamp
        and c.converted_at < $month_end::timestamp
),

ever_converted as (
    select distinct person_id
    from intermediate.conversions
    where conversion_type = case
            when (select on_lead from anchored) then 'lead' else $conversion_type
        end
        and converted_at < $month_end::timestamp
),

touched_in_month as (
    select distinct person_id
    from staging.touchpoints
    where $with_null_paths
        and ts >= $month_start::timestamp
        and ts < $month_end::timestamp
        and channel is not null
        and ($touch_types is null or list_contains($touch_types, touch_type))
        and ($include_unclassified or channel <> 'unclassified')
),

at_risk as (
    select t.person_id
    from touched_in_month as t
    anti join ever_converted as e on e.person_id = t.person_id
),

final as (
    select
        -row_number() over (order by path_key) as path_id,
        path_key,
        person_id,
        true as converted,
        value,
        path_end - to_days($lookback_days::integer) as path_start,
        path_end
    from conversions
    union all
    select
        row_number() over (order by person_id) as path_id,
        person_id as path_key,
        person_id,
        false as converted,
        0.0::double as value,
        $month_end::timestamp - to_days($lookback_days::integer) as path_start,
        $month_end::timestamp as path_end
    from at_risk
)

select * from final
