using System.Reflection;
using Shouldly;

namespace Driver.Hw.Tests.Uapi;

/// <summary>Writes a layout's bytes (its generated <c>CopyTo(Span&lt;byte&gt;)</c>).</summary>
internal delegate void ByteWriter(Span<byte> destination);

/// <summary>
/// Checks a generated uAPI layout against the C header: its size, and for every field its byte
/// offset and size, found by setting the field to all ones and seeing which bytes change. The
/// bytes no field covers must be reserved: a non-zero one makes the struct invalid.
/// </summary>
internal static class UapiLayout
{
    public static void Check<T>(int size, Func<T, ByteWriter> writer, Func<byte[], T> read, params (string Name, int Offset, int Size)[] fields)
        where T : struct
    {
        typeof(T).GetField("Bytes")!.GetValue(null).ShouldBe(size, "sizeof");
        typeof(T).GetField("Bits")!.GetValue(null).ShouldBe(size * 8);
        var declared = typeof(T).GetProperties(BindingFlags.Public | BindingFlags.Instance)
            .Select(p => p.Name).Where(n => n is not "Raw" and not "IsValid").Order(StringComparer.Ordinal).ToList();
        declared.ShouldBe(fields.Select(f => f.Name).Order(StringComparer.Ordinal).ToList(), "the struct's fields");

        var covered = new bool[size];
        foreach (var (name, offset, length) in fields)
        {
            PropertyInfo property = typeof(T).GetProperty(name)!;
            object allOnes = AllOnes(property.PropertyType, length);
            var value = (T)typeof(T).GetMethod("With" + name)!.Invoke(default(T), [allOnes])!;
            byte[] bytes = Bytes(writer(value), size);
            for (int i = 0; i < size; i++)
            {
                bool inside = i >= offset && i < offset + length;
                bytes[i].ShouldBe(inside ? (byte)0xFF : (byte)0, $"{typeof(T).Name}.{name}: byte {i}");
                covered[i] |= inside;
            }
            read(bytes).ShouldBe(value, $"{typeof(T).Name}.{name} reads back");
            property.GetValue(read(bytes)).ShouldBe(allOnes);
        }

        for (int i = 0; i < size; i++)
        {
            if (covered[i])
                continue;
            var bytes = new byte[size];
            bytes[i] = 0x40;
            bool valid = (bool)typeof(T).GetProperty("IsValid")!.GetValue(read(bytes))!;
            valid.ShouldBeFalse($"{typeof(T).Name}: byte {i} is reserved");
        }

        Should.Throw<ArgumentException>(() => read(new byte[size + 1]));
        Should.Throw<ArgumentException>(() => writer(default)(new byte[size - 1]));
    }

    private static byte[] Bytes(ByteWriter writer, int size)
    {
        var bytes = new byte[size];
        writer(bytes);
        return bytes;
    }

    private static object AllOnes(Type type, int bytes)
    {
        ulong ones = bytes >= 8 ? ulong.MaxValue : (1UL << (bytes * 8)) - 1;
        if (type.IsEnum)
            return Enum.ToObject(type, ones);
        return Convert.ChangeType(ones, type, System.Globalization.CultureInfo.InvariantCulture);
    }
}
