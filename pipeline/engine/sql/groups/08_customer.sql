-- customer: what the customers snapshot says that is known at signup: the
-- signup tenure, the acquisition channel and its cost. Snapshot flags such as
-- consent are never features (they have no history); they only decide who
-- may be exported.
--
-- reads: stg_customers.
--
-- grain: one row per customer in the snapshot who had signed up by the end
-- of the cutoff day (or whose signup time is unknown): stg_customers' rows.

with customers as (

    select * from stg_customers

),

final as (

    select
        customer_id,
        {{ cutoff_day }} - signup_day as signup_tenure_days,
        acquisition_channel,
        acquisition_cost
    from customers

)

select * from final
