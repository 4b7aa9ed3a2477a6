-- channel: where a customer buys. Shares are of the customer's orders
-- (distinct order ids with a purchase line) and of their purchase revenue.
--
-- reads: int_customer_channels.
--
-- grain: one row per customer with a purchase line that names its channel.
-- Without a channel column every value is null (the group is left out).

with by_channel as (

    -- one row per customer and channel: orders and revenue (int_customer_channels)
    select * from int_customer_channels

),

totals as (

    -- One pass: the totals and each channel's orders and revenue, side by
    -- side (no join back onto the per-channel rows).
    select
        customer_id,
        count(*) as channels_used,
        sum(orders) as orders,
        sum(revenue) as revenue,
        sum(case when channel = 'store' then orders else 0 end) as orders_store,
        sum(case when channel = 'web' then orders else 0 end) as orders_web,
        sum(case when channel = 'app' then orders else 0 end) as orders_app,
        sum(case when channel = 'marketplace' then orders else 0 end) as orders_marketplace,
        sum(case when channel = 'phone' then orders else 0 end) as orders_phone,
        sum(case when channel = 'store' then revenue else 0 end) as revenue_store,
        sum(case when channel = 'web' then revenue else 0 end) as revenue_web,
        sum(case when channel = 'app' then revenue else 0 end) as revenue_app,
        sum(case when channel = 'marketplace' then revenue else 0 end) as revenue_marketplace,
        sum(case when channel = 'phone' then revenue else 0 end) as revenue_phone
    from by_channel
    group by customer_id

),

preferred as (

    -- Most orders, then most revenue, then the name: a stable choice.
    select customer_id, channel as preferred_channel
    from (
        select
            customer_id,
            channel,
            row_number() over (
                partition by customer_id order by orders desc, revenue desc, channel
            ) as rank
        from by_channel
    )
    where rank = 1

),

final as (

    select
        t.customer_id,
        t.channels_used,
        t.channels_used > 1 as is_omnichannel,
        p.preferred_channel,
        t.orders_store / cast(t.orders as double) as order_share_store,
        t.orders_web / cast(t.orders as double) as order_share_web,
        t.orders_app / cast(t.orders as double) as order_share_app,
        t.orders_marketplace / cast(t.orders as double) as order_share_marketplace,
        t.orders_phone / cast(t.orders as double) as order_share_phone,
        case when t.revenue > 0 then cast(t.revenue_store as double) / cast(t.revenue as double) end as revenue_share_store,
        case when t.revenue > 0 then cast(t.revenue_web as double) / cast(t.revenue as double) end as revenue_share_web,
        case when t.revenue > 0 then cast(t.revenue_app as double) / cast(t.revenue as double) end as revenue_share_app,
        case when t.revenue > 0 then cast(t.revenue_marketplace as double) / cast(t.revenue as double) end as revenue_share_marketplace,
        case when t.revenue > 0 then cast(t.revenue_phone as double) / cast(t.revenue as double) end as revenue_share_phone
    from totals as t
    inner join preferred as p on p.customer_id = t.customer_id

)

select * from final
