-- returns: how much a customer sends back. A return is an order line with a
-- negative amount; the return rate is return lines per purchase line, and
-- the returned value share is the returned amount over the purchased amount.
--
-- reads: stg_order_lines.
--
-- grain: one row per customer with an order line before the end of the cutoff day.

with lines as (

    select * from stg_order_lines

),

final as (

    select
        customer_id,
        count(case when not is_purchase then 1 end) as return_lines,
        case
            when count(case when is_purchase then 1 end) > 0
            then count(case when not is_purchase then 1 end)
                / cast(count(case when is_purchase then 1 end) as double)
        end as return_rate,
        case
            when sum(case when is_purchase then amount else 0 end) > 0
            then 0.0 - cast(sum(case when not is_purchase then amount else 0 end) as double)
                / cast(sum(case when is_purchase then amount else 0 end) as double)
        end as returned_value_share
    from lines
    group by customer_id

)

select * from final
