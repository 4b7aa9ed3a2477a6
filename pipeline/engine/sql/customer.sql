-- customer: what the customers snapshot says that is known at signup: the
-- signup tenure, the acquisition channel and its cost. Snapshot flags such as
-- consent are never features (they have no history); they only decide who
-- may be exported.
--
-- grain: one row per customer in the snapshot who had signed up by the end
-- of the cutoff day (or whose signup time is unknown).

with customers as (

    select * from customers

),

final as (

    select
        customer_id,
        {{ cutoff_day }} - arrow_cast(signup_ts, 'Int64') / 86400000000 as signup_tenure_days,
        acquisition_channel,
        acquisition_cost
    from customers
    where signup_ts is null or signup_ts < {{ cutoff_end }}

)

select * from final
