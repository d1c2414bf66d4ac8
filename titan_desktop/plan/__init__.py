"""The Input tab's Describe it box: the AI planner proposes, the person reviews, Titan builds."""
