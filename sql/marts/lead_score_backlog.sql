-- Leads created before $before (the start of this month's regular scoring population:
-- month start minus the post-creation window) that no earlier month scored: created
-- before the first month with a fitted model, or in months without one. Lead scoring
-- scores them too (flagged backscored), so marts.lead_scores has a row for every lead.
select l.lead_id, l.created_at
from staging.leads as l
where l.created_at < $before
    and not exists (
        select 1
        from marts.lead_score_history as h
        where h.lead_id = l.lead_id
            and h.month < $month
    )
