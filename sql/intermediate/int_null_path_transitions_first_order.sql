-- Order-1 transition counts of the null (non-converting) paths straight from the touches:
-- the counts int_path_transitions_first_order.sql gives over the null paths of
-- int_paths.sql + int_path_null_touches.sql, without materialising those paths' touches
-- (most of a month's touches). Used by attribution.markov_month, the Markov-only route.
--
-- Null path: a person with a counted touch in [$month_start, $month_end) and no conversion
-- of type $risk_type before $month_end; touches in [$month_end - lookback, $month_end),
-- ordered by ts, then channel. Same touch filters as int_path_touches.sql.
-- Everything sorted or partitioned is a fixed-width integer: a person is the pair of two
-- independent 64-bit hashes, of person_id and of person_id || '|' (hash(x, k) would not
-- do: it is a function of hash(x)); two people merge only if both collide, about 2^-128
-- per pair. ts and channel are packed into one order key. Channel codes are
-- positions in the sorted list of every channel in the table (at most 63; the contract
-- has 11 groups and 'unclassified'), so a code sorts like its name; 0 is (start) and -1
-- is (null).
with

channel_list as (
    select list(distinct channel order by channel) as channels
    from staging.touchpoints
    where channel is not null
),

touches as (
    select
        hash(t.person_id) as person_key,
        hash(t.person_id || '|') as person_check,
        (epoch_us(t.ts) - epoch_us($month_end::timestamp - to_days($lookback_days::integer)))
            * 64 + list_position((select channels from channel_list), t.channel) as order_key
    from staging.touchpoints as t
    where t.ts >= $month_end::timestamp - to_days($lookback_days::integer)
        and t.ts < $month_end::timestamp
        and t.channel is not null
        and ($touch_types is null or list_contains($touch_types, t.touch_type))
        and ($include_unclassified or t.channel <> 'unclassified')
),

converted as (
    select distinct
        hash(person_id) as person_key,
        hash(person_id || '|') as person_check
    from intermediate.conversions
    where conversion_type = $risk_type
        and converted_at < $month_end::timestamp
),

sequenced as (
    select
        person_key,
        person_check,
        order_key % 64 as code,
        lag(order_key % 64, 1, 0) over w as previous_code,
        lead(order_key) over w is null as is_last,
        max(order_key) over (partition by person_key, person_check) as last_key
    from touches
    window w as (partition by person_key, person_check order by order_key)
),

at_risk as (
    select s.code, s.previous_code, s.is_last
    from sequenced as s
    anti join converted as c
        on c.person_key = s.person_key
        and c.person_check = s.person_check
    where s.last_key >= (
        epoch_us($month_start::timestamp)
        - epoch_us($month_end::timestamp - to_days($lookback_days::integer))
    ) * 64
),

moves as (
    select previous_code as from_code, code as to_code
    from at_risk
    where previous_code <> code
    union all
    select code, -1
    from at_risk
    where is_last
),

counts as (
    select from_code, to_code, count(*)::bigint as transitions
    from moves
    group by all
),

final as (
    select
        case
            when from_code = 0 then '(start)'
            else (select channels from channel_list)[from_code]
        end as from_state,
        case
            when to_code = -1 then '(null)'
            else (select channels from channel_list)[to_code]
        end as to_state,
        transitions,
        0.0::double as conversion_value
    from counts
)

select * from final
