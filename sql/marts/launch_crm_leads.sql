-- launch cross-check: the leads the CRM itself tags with the campaign (leads.campaign_id),
-- created in [$start, $stop_end). Touch credit splits a lead over its touches; the CRM tag
-- gives it whole to one campaign: two views of the same launch.
select count(*) as crm_tagged_leads
from staging.leads
where campaign_id = $campaign_id
    and created_at >= $start
    and created_at < $stop_end
