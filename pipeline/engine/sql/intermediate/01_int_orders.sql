-- int_orders: orders, the unit of frequency and order value.
--
-- reads: stg_order_lines.
--
-- grain: one row per customer and order_id with a line before the end of the
-- cutoff day. Materialized (written once, read by rfm, trends and the spine).
--
-- An order is an order_id with at least one purchase line (amount >= 0); its
-- value is the sum of all its lines, returns included. `last_purchase_day` is
-- the day of its latest purchase line, so "orders in (D - n, D]" counts the
-- orders with a purchase line in the window, which is what
-- count(distinct order_id) over the lines would give, without a distinct
-- (an unspillable hash set per customer).

with lines as (

    select * from stg_order_lines

),

final as (

    select
        customer_id,
        order_id,
        sum(amount) as order_value,
        bool_or(is_purchase) as is_order,
        max(case when is_purchase then order_day end) as last_purchase_day
    from lines
    group by customer_id, order_id

)

select * from final
