-- int_customer_channels: where each customer buys.
--
-- reads: stg_order_lines.
--
-- grain: one row per customer and purchase channel (lower case) with a
-- purchase line that names its channel, before the end of the cutoff day.
-- Materialized: the channel group reads it three times (totals, the
-- preferred channel, the shares), and grouping 10M lines by order is the
-- expensive part.
--
-- orders: the orders with a purchase line in the channel (an order counts
-- once in each channel it has a purchase line in); revenue: the amount of
-- those purchase lines (exact decimal, see stg_order_lines).

with lines as (

    select * from stg_order_lines where is_purchase and channel is not null

),

by_order as (

    select
        customer_id,
        channel,
        order_id,
        sum(amount) as revenue
    from lines
    group by customer_id, channel, order_id

),

final as (

    select
        customer_id,
        channel,
        count(*) as orders,
        sum(revenue) as revenue
    from by_order
    group by customer_id, channel

)

select * from final
