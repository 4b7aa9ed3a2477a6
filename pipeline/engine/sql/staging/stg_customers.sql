-- stg_customers: the validated customers snapshot, as far as a cutoff may see it.
--
-- reads: customers (the validated table).
--
-- grain: one row per customer in the snapshot who had signed up by the end of
-- the cutoff day (signup_ts < {{ cutoff_end }}, the next midnight UTC), or whose
-- signup time is unknown.
--
-- Only what features may use: the signup and the acquisition. Snapshot flags
-- such as consent, and the email, are never features (they have no history);
-- the export stage reads them from the validated table itself. `signup_day`
-- numbers UTC days since 1970-01-01 (see stg_order_lines).

with customers as (

    select * from customers

),

final as (

    select
        customer_id,
        signup_ts,
        arrow_cast(signup_ts, 'Int64') / 86400000000 as signup_day,
        acquisition_channel,
        acquisition_cost
    from customers
    where signup_ts is null or signup_ts < {{ cutoff_end }}

)

select * from final
