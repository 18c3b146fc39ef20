-- Rows of the month whose ratios break the NULL-on-zero-denominator rule or are not finite.
with

rows as (
    select * from marts.campaign_performance where month = $month_start
),

violations as (
    select campaign_id, 'roas/roi with zero spend' as problem from rows
    where spend = 0 and (roas is not null or roi is not null)
    union all
    select campaign_id, 'cpa with zero leads' from rows where coalesce(leads, 0) = 0 and cpa is not null
    union all
    select campaign_id, 'cac with zero customers' from rows where coalesce(customers, 0) = 0 and cac is not null
    union all
    select campaign_id, 'ctr with zero impressions' from rows where impressions = 0 and ctr is not null
    union all
    select campaign_id, 'cvr with zero clicks' from rows where clicks = 0 and cvr is not null
    union all
    select campaign_id, 'non-finite ratio' from rows
    where not (isfinite(coalesce(roi, 0)) and isfinite(coalesce(roas, 0)) and isfinite(coalesce(cac, 0))
        and isfinite(coalesce(cpa, 0)) and isfinite(coalesce(ctr, 0)) and isfinite(coalesce(cvr, 0)))
),

final as (
    select * from violations order by campaign_id, problem
)

select * from final
