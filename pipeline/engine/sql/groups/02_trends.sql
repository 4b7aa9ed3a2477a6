-- trends: orders and revenue in the last 30, 90, 180 and 365 days, and the
-- ratios that say whether a customer is slowing down.
--
-- reads: int_orders, int_order_days.
--
-- grain: one row per customer with at least one order line before the end of
-- the cutoff day. Windows are (D - n, D] in whole UTC days. Revenue is net of returns
-- made in the window.

with windowed_orders as (

    -- An order is in a window when one of its purchase lines is (int_orders).
    select
        customer_id,
        count(case when last_purchase_day > {{ cutoff_day }} - 30 then 1 end) as orders_30d,
        count(case when last_purchase_day > {{ cutoff_day }} - 90 then 1 end) as orders_90d,
        count(case when last_purchase_day > {{ cutoff_day }} - 180 then 1 end) as orders_180d,
        count(case when last_purchase_day > {{ cutoff_day }} - 365 then 1 end) as orders_365d
    from int_orders
    group by customer_id

),

windowed_revenue as (

    select
        customer_id,
        cast(coalesce(sum(case when order_day > {{ cutoff_day }} - 30 then day_amount end), 0) as double) as revenue_30d,
        cast(coalesce(sum(case when order_day > {{ cutoff_day }} - 90 then day_amount end), 0) as double) as revenue_90d,
        cast(coalesce(sum(case when order_day > {{ cutoff_day }} - 180 then day_amount end), 0) as double) as revenue_180d,
        cast(coalesce(sum(case when order_day > {{ cutoff_day }} - 365 then day_amount end), 0) as double) as revenue_365d
    from int_order_days
    group by customer_id

),

final as (

    select
        o.customer_id,
        o.orders_30d,
        o.orders_90d,
        o.orders_180d,
        o.orders_365d,
        r.revenue_30d,
        r.revenue_90d,
        r.revenue_180d,
        r.revenue_365d,
        -- Share of the last year's orders that fell in its last quarter:
        -- about 0.25 for a steady customer, near 0 for one who stopped.
        case when orders_365d > 0 then orders_90d / cast(orders_365d as double) end as orders_90d_share_of_365d,
        case when orders_180d > 0 then orders_30d / cast(orders_180d as double) end as orders_30d_share_of_180d,
        case when revenue_365d > 0 then revenue_90d / revenue_365d end as revenue_90d_share_of_365d
    from windowed_orders as o
    inner join windowed_revenue as r on r.customer_id = o.customer_id

)

select * from final
