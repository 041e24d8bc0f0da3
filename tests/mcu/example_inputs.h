/* example_inputs.h — latent vectors for the stand-in model (Z = 4): the
 * origin, unit and large values of either sign, to exercise tanh and the
 * sigmoid's saturation. */
static const float inputs[][4] = {
    {  0.0f,   0.0f,  0.0f,  0.0f },
    {  1.0f,  -1.0f,  0.5f, -0.5f },
    { -2.5f,   0.25f, 3.0f,  1.75f },
    { 10.0f, -10.0f,  7.5f, -6.0f },
};
