-- The configured attribution model's credit per conversion month and channel
-- (leads -> conversions, won deals -> revenue), over the trailing window.
-- params: $window_start (DATE), $month_end (DATE), $model (TEXT)
with

attribution as (
    select month, conversion_type, channel, attributed_conversions, attributed_revenue
    from marts.campaign_attribution
    where model = $model
      and conversion_type in ('lead', 'won')
      and month >= $window_start
      and month < $month_end
),

final as (
    select
        month as conversion_month,
        conversion_type,
        channel,
        sum(attributed_conversions) as model_conversions,
        sum(attributed_revenue) as model_revenue
    from attribution
    group by all
)

select * from final
