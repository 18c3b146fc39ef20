-- Each campaign's credited leads and spend per month over the $history_months months
-- before $month_start and that month (marts.campaign_performance; months never
-- materialized are absent): the leads and the spend whose opportunities and won deals can
-- fall in the three-month window the waste rules judge.
-- params: $month_start (DATE), $history_months (INTEGER)
select
    campaign_id,
    month,
    coalesce(leads, 0.0) as leads,
    coalesce(spend, 0.0) as spend
from marts.campaign_performance
where month >= $month_start::date - to_months($history_months::integer)
    and month <= $month_start::date
order by campaign_id, month
