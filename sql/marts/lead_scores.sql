-- marts.lead_scores: one row per lead, its latest score = the row of the latest month in
-- marts.lead_score_history that scored it (re-running an old month changes only the leads
-- whose latest scoring month it is). Leads created before the first month with a model
-- (or in months without one) are scored by the next month that has one: backscored.
with

history as (
    select * from marts.lead_score_history
),

latest as (
    select *
    from history
    qualify row_number() over (partition by lead_id order by month desc) = 1
),

final as (
    select
        lead_id,
        scored_at,
        score,
        predicted_sql_probability,
        grade,
        is_mql,
        mql_rule,
        is_mql_by_rule,
        features_complete,
        coalesce(backscored, false) as backscored,
        month as scored_month,
        probability_threshold
    from latest
)

select * from final
