-- stg_order_lines: the validated order lines visible at the cutoff.
--
-- reads: purchases (the validated table).
--
-- grain: one row per order line with order_ts before the end of the cutoff day
-- (order_ts < {{ cutoff_end }}, i.e. the next midnight, UTC).
--
-- `amount` is a decimal(18, 6) (see below). `order_day` numbers UTC calendar days since 1970-01-01, so every window in
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
        -- Money as an exact decimal (to 1e-6): sums of decimals do not depend
        -- on the order in which the engine adds the rows, so a rerun gives
        -- bit-identical features (sums of doubles differ in the last bits).
        -- Money features are cast back to double at the end of each group.
        cast(amount as decimal(18, 6)) as amount,
        amount >= 0 as is_purchase,                          -- negative = a return or refund
        arrow_cast(order_ts, 'Int64') / 86400000000 as order_day
    from purchases
    where order_ts < {{ cutoff_end }}

)

select * from final
