-- stg_interactions: the validated interactions visible at the cutoff.
--
-- reads: interactions (the validated table).
--
-- grain: one row per interaction with event_ts before the end of the cutoff
-- day. `event_day` numbers UTC days since 1970-01-01 (see stg_order_lines).

with interactions as (

    select * from interactions

),

final as (

    select
        customer_id,
        channel,
        event_type,
        value,
        event_ts,
        arrow_cast(event_ts, 'Int64') / 86400000000 as event_day
    from interactions
    where event_ts < {{ cutoff_end }}

)

select * from final
