-- satisfaction: social activity, service contacts and what customers say.
--
-- Social interactions (channel social: likes, shares, reviews) in 90 days
-- and in all; support tickets and complaints in 90 days; the last NPS answer
-- (0-10) and its class (promoter 9-10, passive 7-8, detractor 0-6); the last
-- CSAT (1-5); whether the customer has unsubscribed from email, SMS or push.
--
-- grain: one row per customer with an interaction before the end of the
-- cutoff day.

with events as (

    select * from stg_interactions

),

final as (

    select
        customer_id,
        count(case when channel = 'social' and event_day > {{ cutoff_day }} - 90 then 1 end) as social_interactions_90d,
        count(case when channel = 'social' then 1 end) as social_interactions,
        count(case when event_type = 'ticket' and event_day > {{ cutoff_day }} - 90 then 1 end) as support_tickets_90d,
        count(case when event_type = 'complaint' and event_day > {{ cutoff_day }} - 90 then 1 end) as complaints_90d,
        -- The latest answer; ties on the timestamp go to the lower score.
        first_value(case when event_type = 'nps' then value end order by
            case when event_type = 'nps' and value is not null then 0 else 1 end,
            event_ts desc, value) as last_nps,
        first_value(case when event_type = 'csat' then value end order by
            case when event_type = 'csat' and value is not null then 0 else 1 end,
            event_ts desc, value) as last_csat,
        bool_or(channel = 'email' and event_type = 'unsubscribe') as unsubscribed_email,
        bool_or(channel = 'sms' and event_type = 'unsubscribe') as unsubscribed_sms,
        bool_or(channel = 'push' and event_type = 'unsubscribe') as unsubscribed_push
    from events
    group by customer_id

)

select
    *,
    case
        when last_nps >= 9 then 'promoter'
        when last_nps >= 7 then 'passive'
        when last_nps is not null then 'detractor'
    end as nps_class
from final
