def test_coverage_warns_below_the_floor_or_on_a_drop_from_last_month():
    from gtm_assets.analytics.attribution import coverage_problems

    now = {"lead": 0.56, "opportunity": 0.87, "won": 1.0}
    prior = {"lead": 0.97, "opportunity": 0.90, "won": 1.0}
    assert coverage_problems(now, prior, 0.7, 0.10) == [
        "lead: 56% of conversions have a touch, down from 97% last month (below 70%)"
    ]
    # a drop alone (96% -> 80%) is a tracking break even above the floor
    assert coverage_problems({"lead": 0.80}, {"lead": 0.96}, 0.7, 0.10) == [
        "lead: 80% of conversions have a touch, down from 96% last month"
    ]
    # steady low coverage warns on the floor; no prior month, no drop
    assert coverage_problems({"lead": 0.65}, {}, 0.7, 0.10) == [
        "lead: 65% of conversions have a touch (below 70%)"
    ]
    assert coverage_problems({"lead": 0.91}, {"lead": 0.97}, 0.7, 0.10) == []
