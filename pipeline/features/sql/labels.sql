-- labels: what each customer did in the horizon (C, C + h] after a cutoff C.
--
-- grain: one row per customer with at least one order day on or before C
-- (the population of docs/contract.md: labels, metrics and training cover
-- only customers who have bought).
--
-- churned: no order day in the horizon. Revenue: max(0, net sum of the
-- amounts in the horizon), returns included.

with lines as (

    select
        customer_id,
        order_id,
        amount,
        amount >= 0 as is_purchase,
        arrow_cast(order_ts, 'Int64') / 86400000000 as order_day
    from purchases
    where order_ts < {{ horizon_end }}

),

population as (

    select distinct customer_id
    from lines
    where is_purchase and order_day <= {{ cutoff_day }}

),

horizon as (

    select
        customer_id,
        count(distinct case when is_purchase then order_day end) as order_days,
        count(distinct case when is_purchase then order_id end) as orders,
        sum(amount) as net_amount
    from lines
    where order_day > {{ cutoff_day }}
    group by customer_id

),

final as (

    select
        p.customer_id,
        coalesce(h.order_days, 0) = 0 as churned,
        coalesce(h.order_days, 0) as order_days,
        coalesce(h.orders, 0) as orders,
        greatest(coalesce(h.net_amount, 0.0), 0.0) as revenue
    from population as p
    left join horizon as h on h.customer_id = p.customer_id

)

select * from final
