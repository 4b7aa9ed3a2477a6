-- engagement: how a customer responds to messages and visits, from the
-- interactions before the end of the cutoff day.
--
-- For each messaging channel (email, sms, push): sends, opens and clicks in
-- the last 30 and 90 days ((D - n, D] in whole UTC days), open and click
-- rates (per send; null without a send in the window) and the days since the
-- last open and click (null when never). Web and app visits and cart
-- abandons in 30 and 90 days, and the days since the last interaction of any
-- kind (support, surveys and social included).
--
-- reads: int_customer_events.
--
-- grain: one row per customer with an interaction before the end of the
-- cutoff day. Without an interactions table every value is null.

with events as (

    -- one row per customer, channel and event type (int_customer_events)
    select * from int_customer_events

),

counts as (

    select
        customer_id,
        sum(case when channel = 'email' and event_type = 'send' then events_30d else 0 end) as email_sends_30d,
        sum(case when channel = 'email' and event_type = 'open' then events_30d else 0 end) as email_opens_30d,
        sum(case when channel = 'email' and event_type = 'click' then events_30d else 0 end) as email_clicks_30d,
        sum(case when channel = 'email' and event_type = 'send' then events_90d else 0 end) as email_sends_90d,
        sum(case when channel = 'email' and event_type = 'open' then events_90d else 0 end) as email_opens_90d,
        sum(case when channel = 'email' and event_type = 'click' then events_90d else 0 end) as email_clicks_90d,
        {{ cutoff_day }} - max(case when channel = 'email' and event_type = 'open' then last_event_day end) as email_days_since_last_open,
        {{ cutoff_day }} - max(case when channel = 'email' and event_type = 'click' then last_event_day end) as email_days_since_last_click,
        sum(case when channel = 'sms' and event_type = 'send' then events_30d else 0 end) as sms_sends_30d,
        sum(case when channel = 'sms' and event_type = 'open' then events_30d else 0 end) as sms_opens_30d,
        sum(case when channel = 'sms' and event_type = 'click' then events_30d else 0 end) as sms_clicks_30d,
        sum(case when channel = 'sms' and event_type = 'send' then events_90d else 0 end) as sms_sends_90d,
        sum(case when channel = 'sms' and event_type = 'open' then events_90d else 0 end) as sms_opens_90d,
        sum(case when channel = 'sms' and event_type = 'click' then events_90d else 0 end) as sms_clicks_90d,
        {{ cutoff_day }} - max(case when channel = 'sms' and event_type = 'open' then last_event_day end) as sms_days_since_last_open,
        {{ cutoff_day }} - max(case when channel = 'sms' and event_type = 'click' then last_event_day end) as sms_days_since_last_click,
        sum(case when channel = 'push' and event_type = 'send' then events_30d else 0 end) as push_sends_30d,
        sum(case when channel = 'push' and event_type = 'open' then events_30d else 0 end) as push_opens_30d,
        sum(case when channel = 'push' and event_type = 'click' then events_30d else 0 end) as push_clicks_30d,
        sum(case when channel = 'push' and event_type = 'send' then events_90d else 0 end) as push_sends_90d,
        sum(case when channel = 'push' and event_type = 'open' then events_90d else 0 end) as push_opens_90d,
        sum(case when channel = 'push' and event_type = 'click' then events_90d else 0 end) as push_clicks_90d,
        {{ cutoff_day }} - max(case when channel = 'push' and event_type = 'open' then last_event_day end) as push_days_since_last_open,
        {{ cutoff_day }} - max(case when channel = 'push' and event_type = 'click' then last_event_day end) as push_days_since_last_click,
        sum(case when channel = 'web' and event_type = 'visit' then events_30d else 0 end) as web_visits_30d,
        sum(case when channel = 'app' and event_type = 'visit' then events_30d else 0 end) as app_visits_30d,
        sum(case when event_type = 'cart_abandon' then events_30d else 0 end) as cart_abandons_30d,
        sum(case when channel = 'web' and event_type = 'visit' then events_90d else 0 end) as web_visits_90d,
        sum(case when channel = 'app' and event_type = 'visit' then events_90d else 0 end) as app_visits_90d,
        sum(case when event_type = 'cart_abandon' then events_90d else 0 end) as cart_abandons_90d,
        {{ cutoff_day }} - max(last_event_day) as days_since_last_interaction
    from events
    group by customer_id

),

final as (

    select
        *,
        case when email_sends_30d > 0 then email_opens_30d / cast(email_sends_30d as double) end as email_open_rate_30d,
        case when email_sends_30d > 0 then email_clicks_30d / cast(email_sends_30d as double) end as email_click_rate_30d,
        case when email_sends_90d > 0 then email_opens_90d / cast(email_sends_90d as double) end as email_open_rate_90d,
        case when email_sends_90d > 0 then email_clicks_90d / cast(email_sends_90d as double) end as email_click_rate_90d,
        case when sms_sends_30d > 0 then sms_opens_30d / cast(sms_sends_30d as double) end as sms_open_rate_30d,
        case when sms_sends_30d > 0 then sms_clicks_30d / cast(sms_sends_30d as double) end as sms_click_rate_30d,
        case when sms_sends_90d > 0 then sms_opens_90d / cast(sms_sends_90d as double) end as sms_open_rate_90d,
        case when sms_sends_90d > 0 then sms_clicks_90d / cast(sms_sends_90d as double) end as sms_click_rate_90d,
        case when push_sends_30d > 0 then push_opens_30d / cast(push_sends_30d as double) end as push_open_rate_30d,
        case when push_sends_30d > 0 then push_clicks_30d / cast(push_sends_30d as double) end as push_click_rate_30d,
        case when push_sends_90d > 0 then push_opens_90d / cast(push_sends_90d as double) end as push_open_rate_90d,
        case when push_sends_90d > 0 then push_clicks_90d / cast(push_sends_90d as double) end as push_click_rate_90d
    from counts

)

select * from final
