-- trends: orders and revenue in the last 30, 90, 180 and 365 days, and the
-- ratios that say whether a customer is slowing down.
--
-- grain: one row per customer with at least one order line before the end of
-- the cutoff day. Windows are (D - n, D] in whole UTC days. Revenue is net of returns
-- made in the window.

with lines as (

    select * from stg_order_lines

),

windowed_orders as (

    select
        customer_id,
        count(distinct case when is_purchase and order_day > {{ cutoff_day }} - 30 then order_id end) as orders_30d,
        count(distinct case when is_purchase and order_day > {{ cutoff_day }} - 90 then order_id end) as orders_90d,
        count(distinct case when is_purchase and order_day > {{ cutoff_day }} - 180 then order_id end) as orders_180d,
        count(distinct case when is_purchase and order_day > {{ cutoff_day }} - 365 then order_id end) as orders_365d,
        coalesce(sum(case when order_day > {{ cutoff_day }} - 30 then amount end), 0.0) as revenue_30d,
        coalesce(sum(case when order_day > {{ cutoff_day }} - 90 then amount end), 0.0) as revenue_90d,
        coalesce(sum(case when order_day > {{ cutoff_day }} - 180 then amount end), 0.0) as revenue_180d,
        coalesce(sum(case when order_day > {{ cutoff_day }} - 365 then amount end), 0.0) as revenue_365d
    from lines
    group by customer_id

),

final as (

    select
        w.*,
        -- Share of the last year's orders that fell in its last quarter:
        -- about 0.25 for a steady customer, near 0 for one who stopped.
        case when orders_365d > 0 then orders_90d / cast(orders_365d as double) end as orders_90d_share_of_365d,
        case when orders_180d > 0 then orders_30d / cast(orders_180d as double) end as orders_30d_share_of_180d,
        case when revenue_365d > 0 then revenue_90d / revenue_365d end as revenue_90d_share_of_365d
    from windowed_orders as w

)

select * from final
