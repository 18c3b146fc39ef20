-- marts.lead_scores: one row per lead, its latest score = the row of the latest month in
-- marts.lead_score_history that scored it (re-running an old month changes only the leads
-- whose latest scoring month it is). Leads created before the first month with a model
-- (or in months without one) are scored by the next month that has one: backscored.
-- A lead no month has scored yet (no month since it was created could fit a model, e.g. the
-- latest month had too few mature leads) still has its row: unscored, score NULL, and why.
with

history as (
    select * from marts.lead_score_history
),

latest as (
    select *
    from history
    qualify row_number() over (partition by lead_id order by month desc) = 1
),

scored as (
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
        probability_threshold,
        false as unscored,
        null::varchar as unscored_reason
    from latest
),

unscored as (
    select
        l.lead_id,
        true as unscored,
        'not scored yet: no month since the lead was created could fit a model '
        || '(lead_model_performance.note says why); the next month that can scores it'
            as unscored_reason
    from staging.leads as l
    anti join latest as h on h.lead_id = l.lead_id
),

final as (
    select * from scored
    union all by name
    select * from unscored
)

select * from final
