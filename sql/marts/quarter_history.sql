-- How much history the quarter's revenue can rest on: the first day of the exports (the
-- earliest lead) and the median days from a lead's creation to its deal's win, over the deals
-- won by the quarter's end. quarter_risks flags a history shorter than the sales cycle.
-- params: $quarter_end (DATE)
with

first_lead as (
    select min(created_at)::date as first_day
    from staging.leads
),

won as (
    select date_diff('day', l.created_at, c.converted_at) as days_to_win
    from intermediate.conversions as c
    inner join staging.leads as l on l.lead_id = c.lead_id
    where c.conversion_type = 'won'
        and c.converted_at < $quarter_end::timestamp
),

final as (
    select
        (select first_day from first_lead) as first_day,
        (select median(days_to_win) from won) as median_days_to_win,
        (select count(*) from won) as deals_won
)

select * from final
