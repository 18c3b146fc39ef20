-- Money rows that lost their value in conversion (a missing fx rate): must be zero.
with

lost as (
    select count(*) as n from staging.ad_spend where spend is null and spend_original is not null
    union all
    select count(*) from staging.campaigns where planned_budget is null and planned_budget_original is not null
    union all
    select count(*) from staging.opportunities where amount is null and amount_original is not null
),

final as (
    select sum(n) as rows_with_lost_money from lost
)

select * from final
