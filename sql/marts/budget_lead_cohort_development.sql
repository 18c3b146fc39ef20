-- How each monthly cohort of leads turns into opportunities (or won deals) with age: one
-- row per lead month x age (whole months from the lead's month to the conversion's month)
-- with the conversions of type $conversion_type ('opportunity' or 'won') at that age, up
-- to the end of $month_start's month. Every lead counts (paid or not): the lag from a lead
-- to its deal is the account's. A conversion dated before its lead (a CRM re-link) counts
-- at age 0.
-- Read by pacing.lead_cohort_completeness (chain ladder) so that the waste rules compare a
-- young campaign's leads with the account's at the same age.
-- params: $month_start (DATE), $history_months (INTEGER), $conversion_type (VARCHAR)
with

conversions as (
    select
        date_trunc('month', l.converted_at)::date as lead_month,
        date_trunc('month', c.converted_at)::date as conversion_month
    from intermediate.conversions as c
    inner join intermediate.conversions as l
        on l.lead_id = c.lead_id
        and l.conversion_type = 'lead'
    where c.conversion_type = $conversion_type
        and c.converted_at < $month_start::date + interval 1 month
        and l.converted_at >= $month_start::date - to_months($history_months::integer)
        and l.converted_at < $month_start::date + interval 1 month
),

final as (
    select
        lead_month,
        greatest(date_diff('month', lead_month, conversion_month), 0)::integer as age_months,
        count(*)::bigint as conversions
    from conversions
    group by all
)

select * from final
order by lead_month, age_months
