-- channel: where a customer buys. Shares are of the customer's orders
-- (distinct order ids with a purchase line) and of their purchase revenue.
--
-- grain: one row per customer with a purchase line that names its channel.
-- Without a channel column every value is null (the group is left out).

with lines as (

    select * from stg_order_lines where is_purchase and channel is not null

),

by_order as (

    -- An order counts once in each channel it has a purchase line in.
    select
        customer_id,
        lower(channel) as channel,
        order_id,
        sum(amount) as revenue
    from lines
    group by customer_id, lower(channel), order_id

),

by_channel as (

    select
        customer_id,
        channel,
        count(*) as orders,
        sum(revenue) as revenue
    from by_order
    group by customer_id, channel

),

totals as (

    select
        customer_id,
        count(*) as channels_used,
        sum(orders) as orders,
        sum(revenue) as revenue
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

shares as (

    select
        b.customer_id,
        sum(case when b.channel = 'store' then b.orders else 0 end) / cast(t.orders as double) as order_share_store,
        sum(case when b.channel = 'web' then b.orders else 0 end) / cast(t.orders as double) as order_share_web,
        sum(case when b.channel = 'app' then b.orders else 0 end) / cast(t.orders as double) as order_share_app,
        sum(case when b.channel = 'marketplace' then b.orders else 0 end) / cast(t.orders as double) as order_share_marketplace,
        sum(case when b.channel = 'phone' then b.orders else 0 end) / cast(t.orders as double) as order_share_phone,
        case when t.revenue > 0 then cast(sum(case when b.channel = 'store' then b.revenue else 0 end) as double) / cast(t.revenue as double) end as revenue_share_store,
        case when t.revenue > 0 then cast(sum(case when b.channel = 'web' then b.revenue else 0 end) as double) / cast(t.revenue as double) end as revenue_share_web,
        case when t.revenue > 0 then cast(sum(case when b.channel = 'app' then b.revenue else 0 end) as double) / cast(t.revenue as double) end as revenue_share_app,
        case when t.revenue > 0 then cast(sum(case when b.channel = 'marketplace' then b.revenue else 0 end) as double) / cast(t.revenue as double) end as revenue_share_marketplace,
        case when t.revenue > 0 then cast(sum(case when b.channel = 'phone' then b.revenue else 0 end) as double) / cast(t.revenue as double) end as revenue_share_phone
    from by_channel as b
    inner join totals as t on t.customer_id = b.customer_id
    group by b.customer_id, t.orders, t.revenue

),

final as (

    select
        t.customer_id,
        t.channels_used,
        t.channels_used > 1 as is_omnichannel,
        p.preferred_channel,
        s.order_share_store,
        s.order_share_web,
        s.order_share_app,
        s.order_share_marketplace,
        s.order_share_phone,
        s.revenue_share_store,
        s.revenue_share_web,
        s.revenue_share_app,
        s.revenue_share_marketplace,
        s.revenue_share_phone
    from totals as t
    inner join preferred as p on p.customer_id = t.customer_id
    inner join shares as s on s.customer_id = t.customer_id

)

select * from final
