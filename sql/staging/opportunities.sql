-- staging.opportunities: deals with the amount in the reporting currency (converted at the
-- latest rate on or before the day the opportunity was created) and the sourcing person.
with

opportunities as (
    select
        *,
        coalesce(nullif(upper(trim(currency)), ''), $currency) as currency_code
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
        lower(trim(o.stage)) as stage,
        o.close_date,
        o.closed_at,
        lower(trim(o.stage)) in ('closed_won', 'closed_lost') as is_closed,
        lower(trim(o.stage)) = 'closed_won' as is_won
    from converted as o
    left join leads as l using (lead_id)
)

select * from final
