-- How much history the quarter's revenue can rest on: the first day of the exports (the
-- earliest lead) and the median days from a lead's creation to its deal's win, over the deals
-- won by the quarter's end. quarter_risks flags a history shorter than the sales cycle.
-- Seasonality: leads and spend of the reviewed quarter [$quarter_start, $quarter_end) and of
-- the planned quarter's months a year earlier [$quarter_end - 12 months, $quarter_end - 9
-- months); ly_covered is false when the exports do not reach back to that quarter's start.
-- params: $quarter_start, $quarter_end (DATE)
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

last_year as (
    select
        ($quarter_end::date - interval 12 month)::date as ly_start,
        ($quarter_end::date - interval 9 month)::date as ly_end
),

leads_in as (
    select
        count(*) filter (
            where created_at >= $quarter_start::timestamp and created_at < $quarter_end::timestamp
        ) as review_leads,
        count(*) filter (
            where created_at >= (select ly_start from last_year)
                and created_at < (select ly_end from last_year)
        ) as ly_leads
    from staging.leads
),

spend_in as (
    select
        coalesce(sum(spend) filter (
            where date >= $quarter_start::date and date < $quarter_end::date
        ), 0) as review_spend,
        coalesce(sum(spend) filter (
            where date >= (select ly_start from last_year)
                and date < (select ly_end from last_year)
        ), 0) as ly_spend
    from staging.ad_spend
),

final as (
    select
        (select first_day from first_lead) as first_day,
        (select median(days_to_win) from won) as median_days_to_win,
        (select count(*) from won) as deals_won,
        (select ly_start from last_year) as ly_start,
        (select first_day from first_lead) <= (select ly_start from last_year) as ly_covered,
        (select review_leads from leads_in) as review_leads,
        (select review_spend from spend_in) as review_spend,
        (select ly_leads from leads_in) as ly_leads,
        (select ly_spend from spend_in) as ly_spend
)

select * from final
