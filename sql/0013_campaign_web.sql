-- 0013_campaign_web: what the web view needs for campaigns (issue 7): the
-- one role rule of campaigns, and the grants that let crmgate_web change a
-- campaign's state (pause, resume, cancel, start through campaign_action()
-- in core/campaign.c, which also queues the send job with crm_job_enqueue,
-- already granted in 0011).
--
-- Who sees a campaign: chief and admin every one, a manager those they own
-- (campaigns.owner_id), an operator none. The campaign pages, the campaigns
-- report and the links of campaign events on timelines all ask this.
CREATE FUNCTION crm_campaign_visible(viewer bigint, viewer_role text,
                                     owner bigint)
RETURNS boolean LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT viewer_role IN ('chief', 'admin')
        OR (viewer_role = 'manager' AND owner IS NOT NULL AND owner = viewer)
$$;

GRANT UPDATE (state, started_at, finished_at, updated_at) ON campaigns
    TO crmgate_web;
