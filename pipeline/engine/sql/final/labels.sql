-- labels: what each customer did in the horizon (C, C + h] after a cutoff C.
--
-- reads: stg_order_lines.
--
-- grain: one row per customer with at least one order day on or before C
-- (the population of docs/contract.md: labels, metrics and training cover
-- only customers who have bought).
--
-- churned: no order day in the horizon. Revenue: max(0, net sum of the
-- amounts in the horizon), returns included.

with lines as (

    -- stg_order_lines rendered with its cut at the end of the horizon
    -- (order_ts < C + h + 1 day, midnight UTC), not at the cutoff: the
    -- labels look past C by design, the features never do.
    select customer_id, order_id, amount, is_purchase, order_day
    from stg_order_lines

),

population as (

    select customer_id
    from lines
    where is_purchase and order_day <= {{ cutoff_day }}
    group by customer_id

),

horizon_lines as (

    select * from lines where order_day > {{ cutoff_day }}

),

horizon_days as (

    -- Distinct purchase days and orders are counted by grouping first (a
    -- count(distinct) keeps an unspillable hash set per customer).
    select customer_id, count(*) as order_days
    from (
        select customer_id, order_day
        from horizon_lines
        where is_purchase
        group by customer_id, order_day
    )
    group by customer_id

),

horizon_orders as (

    select customer_id, count(*) as orders
    from (
        select customer_id, order_id
        from horizon_lines
        where is_purchase
        group by customer_id, order_id
    )
    group by customer_id

),

horizon as (

    select
        a.customer_id,
        coalesce(d.order_days, 0) as order_days,
        coalesce(o.orders, 0) as orders,
        a.net_amount
    from (
        select customer_id, sum(amount) as net_amount
        from horizon_lines
        group by customer_id
    ) as a
    left join horizon_days as d on d.customer_id = a.customer_id
    left join horizon_orders as o on o.customer_id = a.customer_id

),

final as (

    select
        p.customer_id,
        coalesce(h.order_days, 0) = 0 as churned,
        coalesce(h.order_days, 0) as order_days,
        coalesce(h.orders, 0) as orders,
        greatest(coalesce(cast(h.net_amount as double), 0.0), 0.0) as revenue
    from population as p
    left join horizon as h on h.customer_id = p.customer_id

)

select * from final
