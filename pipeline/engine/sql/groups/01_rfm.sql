-- rfm: recency, frequency, monetary value, tenure, purchase gaps and the BTYD
-- summary (x, t_x, T, m) as of the cutoff.
--
-- reads: int_order_days, int_orders.
--
-- grain: one row per customer with at least one order day on or before the
-- cutoff. All durations are in days.

with order_days as (

    select * from int_order_days where is_order_day

),

day_summary as (

    select
        customer_id,
        min(order_day) as first_order_day,
        max(order_day) as last_order_day,
        count(*) as order_days,
        sum(day_amount) as day_amount
    from order_days
    group by customer_id

),

day_edges as (

    -- The first order day's amount and the order day before the last: with
    -- them, the gaps and the repeat mean need no window over the days (the
    -- mean of the gaps between consecutive days telescopes to
    -- (last - first) / (days - 1)).
    select
        s.customer_id,
        sum(case when d.order_day = s.first_order_day then d.day_amount end) as first_day_amount,
        max(case when d.order_day < s.last_order_day then d.order_day end) as previous_order_day
    from day_summary as s
    inner join order_days as d on d.customer_id = s.customer_id
    group by s.customer_id

),

order_summary as (

    select
        customer_id,
        count(case when is_order then 1 end) as orders,
        sum(order_value) as net_revenue,                     -- everything, refunds included
        max(case when is_order then order_value end) as max_order_value
    from int_orders
    group by customer_id

),

final as (

    select
        d.customer_id,
        {{ cutoff_day }} - d.last_order_day as recency_days,
        {{ cutoff_day }} - d.first_order_day as tenure_days,
        o.orders,
        o.orders - 1 as repeat_orders,
        d.order_days,
        cast(o.net_revenue as double) as net_revenue,
        cast(o.net_revenue as double) / o.orders as mean_order_value,
        cast(o.max_order_value as double) as max_order_value,
        case
            when d.order_days > 1
            then (d.last_order_day - d.first_order_day) / cast(d.order_days - 1 as double)
        end as mean_gap_days,                                -- null with one order day
        d.last_order_day - e.previous_order_day as last_gap_days,
        -- The BTYD summary, in days (docs/features.md):
        d.order_days - 1 as btyd_x,
        d.last_order_day - d.first_order_day as btyd_t_x,
        {{ cutoff_day }} - d.first_order_day as btyd_t,
        case
            when d.order_days > 1
            then cast(d.day_amount - e.first_day_amount as double) / (d.order_days - 1)
            else 0.0
        end as btyd_m                                        -- mean repeat order-day value
    from day_summary as d
    inner join day_edges as e on e.customer_id = d.customer_id
    inner join order_summary as o on o.customer_id = d.customer_id

)

select * from final
