-- staging.budget_plan: planned spend per month and channel, in the reporting currency.
with

plan as (
    select * from raw.budget_plan
),

final as (
    select
        strptime(trim(month) || '-01', '%Y-%m-%d')::date as month,
        lower(trim(channel)) as channel,
        planned_spend
    from plan
)

select * from final
