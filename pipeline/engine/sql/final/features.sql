-- features: the customer feature table as of the cutoff, one column per
-- feature, every group joined onto the customer spine. docs/features.md
-- defines each column.
--
-- reads: int_orders, int_customer_events, customer, rfm, trends, channel, category, returns, engagement, satisfaction.
--
-- grain: one row per customer known at the cutoff: anyone with an order
-- line, an interaction or a signup before the end of the cutoff day.
-- Customers without an order day (prospects) get neutral values: counts and
-- revenue 0, durations and ratios null, has_orders false. A group whose table
-- or column is missing is null for everyone (the stage's report says so).

with spine as (

    -- From the materialized intermediate models, not the event tables: the
    -- same customers, read from a few rows per customer.
    select customer_id from int_orders
    union all
    select customer_id from int_customer_events
    union all
    select customer_id from customer

),

customers as (

    select customer_id from spine group by customer_id

),

final as (

    select
        c.customer_id,
        {{ cutoff_date }} as as_of,
        r.customer_id is not null as has_orders,
        -- rfm: recency, frequency, monetary, BTYD summary (null for prospects but counts)
        r.recency_days,
        r.tenure_days,
        coalesce(r.orders, 0) as orders,
        coalesce(r.repeat_orders, 0) as repeat_orders,
        coalesce(r.order_days, 0) as order_days,
        coalesce(r.net_revenue, 0.0) as net_revenue,
        r.mean_order_value,
        r.max_order_value,
        r.mean_gap_days,
        r.last_gap_days,
        r.btyd_x,
        r.btyd_t_x,
        r.btyd_t,
        r.btyd_m,
        -- trends
        coalesce(t.orders_30d, 0) as orders_30d,
        coalesce(t.orders_90d, 0) as orders_90d,
        coalesce(t.orders_180d, 0) as orders_180d,
        coalesce(t.orders_365d, 0) as orders_365d,
        coalesce(t.revenue_30d, 0.0) as revenue_30d,
        coalesce(t.revenue_90d, 0.0) as revenue_90d,
        coalesce(t.revenue_180d, 0.0) as revenue_180d,
        coalesce(t.revenue_365d, 0.0) as revenue_365d,
        t.orders_90d_share_of_365d,
        t.orders_30d_share_of_180d,
        t.revenue_90d_share_of_365d,
        -- channel (null without a channel column)
        ch.channels_used,
        ch.is_omnichannel,
        ch.preferred_channel,
        ch.order_share_store,
        ch.order_share_web,
        ch.order_share_app,
        ch.order_share_marketplace,
        ch.order_share_phone,
        ch.revenue_share_store,
        ch.revenue_share_web,
        ch.revenue_share_app,
        ch.revenue_share_marketplace,
        ch.revenue_share_phone,
        -- category (null without a category column)
        ca.categories_bought,
        ca.top_category,
        ca.top_category_share,
        ca.category_entropy,
        -- returns
        coalesce(rt.return_lines, 0) as return_lines,
        rt.return_rate,
        rt.returned_value_share,
        -- engagement (counts 0 without events, null without an interactions table)
        coalesce(e.email_sends_30d, {{ interactions_count_default }}) as email_sends_30d,
        coalesce(e.email_opens_30d, {{ interactions_count_default }}) as email_opens_30d,
        coalesce(e.email_clicks_30d, {{ interactions_count_default }}) as email_clicks_30d,
        coalesce(e.email_sends_90d, {{ interactions_count_default }}) as email_sends_90d,
        coalesce(e.email_opens_90d, {{ interactions_count_default }}) as email_opens_90d,
        coalesce(e.email_clicks_90d, {{ interactions_count_default }}) as email_clicks_90d,
        e.email_days_since_last_open,
        e.email_days_since_last_click,
        coalesce(e.sms_sends_30d, {{ interactions_count_default }}) as sms_sends_30d,
        coalesce(e.sms_opens_30d, {{ interactions_count_default }}) as sms_opens_30d,
        coalesce(e.sms_clicks_30d, {{ interactions_count_default }}) as sms_clicks_30d,
        coalesce(e.sms_sends_90d, {{ interactions_count_default }}) as sms_sends_90d,
        coalesce(e.sms_opens_90d, {{ interactions_count_default }}) as sms_opens_90d,
        coalesce(e.sms_clicks_90d, {{ interactions_count_default }}) as sms_clicks_90d,
        e.sms_days_since_last_open,
        e.sms_days_since_last_click,
        coalesce(e.push_sends_30d, {{ interactions_count_default }}) as push_sends_30d,
        coalesce(e.push_opens_30d, {{ interactions_count_default }}) as push_opens_30d,
        coalesce(e.push_clicks_30d, {{ interactions_count_default }}) as push_clicks_30d,
        coalesce(e.push_sends_90d, {{ interactions_count_default }}) as push_sends_90d,
        coalesce(e.push_opens_90d, {{ interactions_count_default }}) as push_opens_90d,
        coalesce(e.push_clicks_90d, {{ interactions_count_default }}) as push_clicks_90d,
        e.push_days_since_last_open,
        e.push_days_since_last_click,
        coalesce(e.web_visits_30d, {{ interactions_count_default }}) as web_visits_30d,
        coalesce(e.app_visits_30d, {{ interactions_count_default }}) as app_visits_30d,
        coalesce(e.cart_abandons_30d, {{ interactions_count_default }}) as cart_abandons_30d,
        coalesce(e.web_visits_90d, {{ interactions_count_default }}) as web_visits_90d,
        coalesce(e.app_visits_90d, {{ interactions_count_default }}) as app_visits_90d,
        coalesce(e.cart_abandons_90d, {{ interactions_count_default }}) as cart_abandons_90d,
        e.days_since_last_interaction,
        e.email_open_rate_30d,
        e.email_click_rate_30d,
        e.email_open_rate_90d,
        e.email_click_rate_90d,
        e.sms_open_rate_30d,
        e.sms_click_rate_30d,
        e.sms_open_rate_90d,
        e.sms_click_rate_90d,
        e.push_open_rate_30d,
        e.push_click_rate_30d,
        e.push_open_rate_90d,
        e.push_click_rate_90d,
        -- social and satisfaction
        coalesce(s.social_interactions_90d, {{ interactions_count_default }}) as social_interactions_90d,
        coalesce(s.social_interactions, {{ interactions_count_default }}) as social_interactions,
        coalesce(s.support_tickets_90d, {{ interactions_count_default }}) as support_tickets_90d,
        coalesce(s.complaints_90d, {{ interactions_count_default }}) as complaints_90d,
        s.last_nps,
        s.nps_class,
        s.last_csat,
        coalesce(s.unsubscribed_email, {{ interactions_flag_default }}) as unsubscribed_email,
        coalesce(s.unsubscribed_sms, {{ interactions_flag_default }}) as unsubscribed_sms,
        coalesce(s.unsubscribed_push, {{ interactions_flag_default }}) as unsubscribed_push,
        -- customer (null without a customers table)
        cu.signup_tenure_days,
        cu.acquisition_channel,
        cu.acquisition_cost
    from customers as c
    left join rfm as r on r.customer_id = c.customer_id
    left join trends as t on t.customer_id = c.customer_id
    left join channel as ch on ch.customer_id = c.customer_id
    left join category as ca on ca.customer_id = c.customer_id
    left join returns as rt on rt.customer_id = c.customer_id
    left join engagement as e on e.customer_id = c.customer_id
    left join satisfaction as s on s.customer_id = c.customer_id
    left join customer as cu on cu.customer_id = c.customer_id

)

select * from final
