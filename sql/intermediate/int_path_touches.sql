-- One row per touch of every attribution path of one conversion type in one month.
--
-- Converting paths: for each conversion of $conversion_type with converted_at in
-- [$month_start, $month_end), the person's touches strictly before converted_at and no
-- older than $lookback_days days (ts >= converted_at - lookback). Touches after the
-- conversion never count.
-- Non-converting paths: people with at least one touch in [$month_start, $month_end)
-- who have no conversion of this type at any time before $month_end (still at risk at
-- the month end); their path is their touches in [$month_end - lookback, $month_end).
-- Touch filters: $touch_types (NULL = every type) and $include_unclassified.
-- Order inside a path: ts, then touchpoint_id (deterministic).
with

conversions as (
    select
        conversion_id,
        person_id,
        converted_at,
        coalesce(value, 0)::double as value
    from intermediate.conversions
    where conversion_type = $conversion_type
        and converted_at >= $month_start::timestamp
        and converted_at < $month_end::timestamp
),

touches as (
    select
        touchpoint_id,
        person_id,
        ts,
        channel,
        campaign_id,
        touch_type
    from staging.touchpoints
    where ts >= $month_start::timestamp - to_days($lookback_days::integer)
        and ts < $month_end::timestamp
        and channel is not null
        and ($touch_types is null or list_contains($touch_types, touch_type))
        and ($include_unclassified or channel <> 'unclassified')
),

converting_touches as (
    select
        'c:' || c.conversion_id as path_id,
        true as converted,
        c.value,
        c.converted_at as path_end,
        t.touchpoint_id,
        t.ts,
        t.channel,
        t.campaign_id,
        t.touch_type
    from conversions as c
    inner join touches as t
        on t.person_id = c.person_id
        and t.ts < c.converted_at
        and t.ts >= c.converted_at - to_days($lookback_days::integer)
),

ever_converted as (
    select distinct person_id
    from intermediate.conversions
    where conversion_type = $conversion_type
        and converted_at < $month_end::timestamp
),

at_risk as (
    select distinct t.person_id
    from touches as t
    anti join ever_converted as e on e.person_id = t.person_id
    where t.ts >= $month_start::timestamp
),

null_touches as (
    select
        'n:' || t.person_id as path_id,
        false as converted,
        0.0::double as value,
        $month_end::timestamp as path_end,
        t.touchpoint_id,
        t.ts,
        t.channel,
        t.campaign_id,
        t.touch_type
    from touches as t
    semi join at_risk as r on r.person_id = t.person_id
    where t.ts >= $month_end::timestamp - to_days($lookback_days::integer)
),

all_touches as (
    select * from converting_touches
    union all
    select * from null_touches
),

final as (
    select
        path_id,
        converted,
        value,
        path_end,
        touchpoint_id,
        ts,
        channel,
        campaign_id,
        touch_type,
        row_number() over (partition by path_id order by ts, touchpoint_id) as touch_index,
        count(*) over (partition by path_id) as path_length
    from all_touches
)

select * from final
