-- staging.opportunities: deals with the amount in the reporting currency (converted at the
-- latest rate on or before the day the opportunity was created) and the sourcing person.
-- closed_at: when a closed deal closed. The export's closed_at, else (many CRMs export only
-- the date) its close_date, which the contract defines as the actual close once closed, but
-- never before the deal was created (a deal won the day it was created closes at its
-- creation, not at midnight before it); close_time_source says which. Every consumer reads
-- this one close time.
with

opportunities as (
    select
        *,
        coalesce(nullif(upper(trim(currency)), ''), $currency) as currency_code,
        lower(trim(stage)) as stage_key,
        lower(trim(stage)) in ('closed_won', 'closed_lost') as is_closed
    from raw.opportunities
),

leads as (
    select lead_id, person_id from raw.leads
),

fx as (
    select date, upper(trim(currency)) as currency, rate_to_reporting from raw.fx_rates
),

converted as (
    select
        o.*,
        case when o.currency_code = $currency then 1.0 else fx.rate_to_reporting end as rate
    from opportunities as o
    asof left join fx
        on fx.currency = o.currency_code
        and fx.date <= o.created_at::date
),

final as (
    select
        o.opportunity_id,
        o.lead_id,
        l.person_id,
        o.created_at,
        o.amount * o.rate as amount,
        o.amount as amount_original,
        o.currency_code as currency,
        o.stage_key as stage,
        o.close_date,
        case
            when o.closed_at is not null or not o.is_closed then o.closed_at
            -- greatest() skips NULLs: without a close_date the close time stays unknown
            when o.close_date is not null then greatest(o.close_date::timestamp, o.created_at)
        end as closed_at,
        case
            when o.closed_at is not null then 'closed_at'
            when o.is_closed and o.close_date is not null then 'close_date'
        end as close_time_source,
        o.is_closed,
        o.stage_key = 'closed_won' as is_won
    from converted as o
    left join leads as l using (lead_id)
)

select * from final
