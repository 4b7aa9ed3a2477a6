-- stg_order_lines: the validated order lines visible at the cutoff.
--
-- grain: one row per order line with order_ts before the end of the cutoff day
-- (order_ts < {{ cutoff_end }}, i.e. the next midnight, UTC).
--
-- `order_day` numbers UTC calendar days since 1970-01-01, so every window in
-- the feature models is integer arithmetic: (D - n, D] is
-- `order_day > {{ cutoff_day }} - n and order_day <= {{ cutoff_day }}`.

with purchases as (

    select * from purchases

),

final as (

    select
        customer_id,
        order_id,
        channel,
        category,
        amount,
        amount >= 0 as is_purchase,                          -- negative = a return or refund
        arrow_cast(order_ts, 'Int64') / 86400000000 as order_day
    from purchases
    where order_ts < {{ cutoff_end }}

)

select * from final
