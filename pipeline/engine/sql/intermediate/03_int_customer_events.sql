-- int_customer_events: the interactions counted once, for engagement and
-- satisfaction.
--
-- reads: stg_interactions.
--
-- grain: one row per customer, channel and event type with an interaction
-- before the end of the cutoff day. Materialized: the interactions are the
-- largest table (about ten times the order lines), so they are read once
-- here and the two feature groups aggregate these few rows per customer.
-- Windows are (D - n, D] in whole UTC days.

with events as (

    select * from stg_interactions

),

final as (

    select
        customer_id,
        channel,
        event_type,
        count(*) as events,
        count(case when event_day > {{ cutoff_day }} - 30 then 1 end) as events_30d,
        count(case when event_day > {{ cutoff_day }} - 90 then 1 end) as events_90d,
        max(event_day) as last_event_day
    from events
    group by customer_id, channel, event_type

)

select * from final
