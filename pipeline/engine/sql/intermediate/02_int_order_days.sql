-- int_order_days: customer-days, the BTYD unit of a transaction.
--
-- reads: stg_order_lines.
--
-- grain: one row per customer and UTC day with at least one order line.
-- Materialized (read by rfm twice and by trends).
--
-- An order day is a day with at least one line whose amount is >= 0 (a
-- purchase, even a free one); a day with only returns is not an order day, but
-- its amounts still count in net revenue (docs/features.md).

with lines as (

    select * from stg_order_lines

),

final as (

    select
        customer_id,
        order_day,
        sum(amount) as day_amount,                           -- net of same-day returns
        bool_or(is_purchase) as is_order_day
    from lines
    group by customer_id, order_day

)

select * from final
