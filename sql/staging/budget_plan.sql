-- staging.budget_plan: planned spend per month and channel, in the reporting currency.
with

plan as (
    select * from raw.budget_plan
),

final as (
    select
        date_trunc('month', month)::date as month,
        lower(trim(channel)) as channel,
        planned_spend
    from plan
)

select * from final
