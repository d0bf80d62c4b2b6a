namespace Driver.Generators.Tests;

/// <summary>
/// Every member name a layout struct has besides its fields: a field may not take one. Kept apart
/// from <see cref="DiagnosticTests"/>, whose cases are whole hwdef texts for the message snapshot.
/// </summary>
public sealed class MemberClashTests
{
    [Theory]
    [InlineData("Res0Mask")]
    [InlineData("Res1Mask")]
    [InlineData("ApplyWrite")]
    [InlineData("GetWord")]
    [InlineData("CopyTo")]
    [InlineData("GetHashCode")]
    [InlineData("ToString")]
    [InlineData("GetType")]
    [InlineData("MemberwiseClone")]
    [InlineData("Finalize")]
    [InlineData("__w1")]
    [InlineData("__w2")]
    [InlineData("__w3")]
    [InlineData("__w4")]
    [InlineData("__w5")]
    [InlineData("__w6")]
    [InlineData("__w7")]
    [InlineData("__w8")]
    [InlineData("__w15")]
    [InlineData("Bytes")]
    [InlineData("FromBytes")]
    public void Fields_named_like_a_member_every_layout_has_are_HWDEF005(string name) =>
        GeneratorHarness.Located(GeneratorHarness.Run("namespace T.Hw\nlayout L : 8\n  0 " + name + " bool\n  7:1 ign\nend\n"))
            .ShouldBe(new[] { "HWDEF005@3:5" });
}
