-- rfm: recency, frequency, monetary value, tenure, purchase gaps and the BTYD
-- summary (x, t_x, T, m) as of the cutoff.
--
-- grain: one row per customer with at least one order day on or before the
-- cutoff. All durations are in days.

with order_days as (

    select * from stg_order_days where is_order_day

),

lines as (

    select * from stg_order_lines

),

ranked_days as (

    select
        customer_id,
        order_day,
        day_amount,
        order_day - lag(order_day) over (
            partition by customer_id order by order_day
        ) as gap_days,
        row_number() over (partition by customer_id order by order_day) as day_rank,
        row_number() over (partition by customer_id order by order_day desc) as day_rank_desc
    from order_days

),

day_summary as (

    select
        customer_id,
        min(order_day) as first_order_day,
        max(order_day) as last_order_day,
        count(*) as order_days,
        avg(gap_days) as mean_gap_days,                      -- null with one order day
        max(case when day_rank_desc = 1 then gap_days end) as last_gap_days,
        avg(case when day_rank > 1 then day_amount end) as repeat_day_mean
    from ranked_days
    group by customer_id

),

orders as (

    -- An order's value is the sum of all its lines, returns included.
    select
        customer_id,
        order_id,
        sum(amount) as order_value,
        bool_or(is_purchase) as is_order
    from lines
    group by customer_id, order_id

),

order_summary as (

    select
        customer_id,
        count(case when is_order then 1 end) as orders,
        sum(order_value) as net_revenue,                     -- everything, refunds included
        max(case when is_order then order_value end) as max_order_value
    from orders
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
        o.net_revenue,
        o.net_revenue / o.orders as mean_order_value,
        o.max_order_value,
        d.mean_gap_days,
        d.last_gap_days,
        -- The BTYD summary, in days (docs/features.md):
        d.order_days - 1 as btyd_x,
        d.last_order_day - d.first_order_day as btyd_t_x,
        {{ cutoff_day }} - d.first_order_day as btyd_t,
        coalesce(d.repeat_day_mean, 0.0) as btyd_m
    from day_summary as d
    inner join order_summary as o on o.customer_id = d.customer_id

)

select * from final
