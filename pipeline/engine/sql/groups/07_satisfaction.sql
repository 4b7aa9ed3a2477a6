-- satisfaction: social activity, service contacts and what customers say.
--
-- Social interactions (channel social: likes, shares, reviews) in 90 days
-- and in all; support tickets and complaints in 90 days; the last NPS answer
-- (0-10) and its class (promoter 9-10, passive 7-8, detractor 0-6); the last
-- CSAT (1-5); whether the customer has unsubscribed from email, SMS or push.
--
-- reads: int_customer_events, int_survey_answers.
--
-- grain: one row per customer with an interaction before the end of the
-- cutoff day.

with events as (

    -- one row per customer, channel and event type (int_customer_events)
    select * from int_customer_events

),

counts as (

    select
        customer_id,
        sum(case when channel = 'social' then events_90d else 0 end) as social_interactions_90d,
        sum(case when channel = 'social' then events else 0 end) as social_interactions,
        sum(case when event_type = 'ticket' then events_90d else 0 end) as support_tickets_90d,
        sum(case when event_type = 'complaint' then events_90d else 0 end) as complaints_90d,
        bool_or(channel = 'email' and event_type = 'unsubscribe') as unsubscribed_email,
        bool_or(channel = 'sms' and event_type = 'unsubscribe') as unsubscribed_sms,
        bool_or(channel = 'push' and event_type = 'unsubscribe') as unsubscribed_push
    from events
    group by customer_id

),

final as (

    select
        c.*,
        a.last_nps,
        a.last_csat
    from counts as c
    left join int_survey_answers as a on a.customer_id = c.customer_id

)

select
    *,
    case
        when last_nps >= 9 then 'promoter'
        when last_nps >= 7 then 'passive'
        when last_nps is not null then 'detractor'
    end as nps_class
from final
