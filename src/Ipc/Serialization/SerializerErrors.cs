using System.Reflection;
using System.Text;

namespace Ipc.Serialization;

/// <summary>
/// Says why a serializer could not handle a message type and how to fix it, instead of leaving the cause two inner
/// exceptions down.
/// </summary>
internal static class SerializerErrors
{
    /// <summary>The message of a MessagePack failure to serialize or deserialize <paramref name="type"/>.</summary>
    public static string MessagePack(Type type, Exception error, bool serializing)
    {
        var cause = Innermost(error);
        if (cause.Message.Contains("public type", StringComparison.OrdinalIgnoreCase)
            || cause.Message.Contains("not public", StringComparison.OrdinalIgnoreCase))
        {
            var hidden = FirstNonPublic(type, new HashSet<Type>()) is { } found ? Name(found) : NameAfter(cause.Message, "Type:") ?? Name(type);
            var within = hidden == Name(type) ? string.Empty : $" (it is part of {Name(type)})";
            return $"MessagePack needs public types: make {hidden} public{within}. Message types and the types of their members must be public, nested ones too.";
        }

        if (cause.Message.Contains("constructor", StringComparison.OrdinalIgnoreCase))
        {
            return $"MessagePack cannot create {Name(type)}: give it a public constructor whose parameters match its public properties, or a public parameterless constructor and settable properties. ({cause.Message})";
        }

        if (!serializing && cause.Message.Contains("decompressed length", StringComparison.OrdinalIgnoreCase))
        {
            return $"The compressed MessagePack body for {Name(type)} decompresses to more than MessagePackSecurity.MaximumDecompressedSize allows (64 MiB by default). Send less, or raise it on the reading side: options.WithSecurity(MessagePackSecurity.UntrustedData.WithMaximumDecompressedSize(bytes)). ({cause.Message})";
        }

        return $"Failed to {(serializing ? "serialize" : "deserialize")} {Name(type)} with MessagePack: {cause.Message}";
    }

    /// <summary>The message of an LZ4 block that declares more bytes than its compressed bytes can hold.</summary>
    public static string Lz4LengthImpossible(Type type, long declared, long compressed) =>
        $"The compressed MessagePack body for {Name(type)} is malformed: an LZ4 block of {compressed} bytes declares {declared} bytes once decompressed, more than LZ4 can produce from it.";

    /// <summary>The message of a System.Text.Json failure to create <paramref name="type"/>.</summary>
    public static string JsonCannotCreate(Type type, NotSupportedException error) =>
        $"System.Text.Json cannot create {Name(type)}: give it a public parameterless constructor, or one public constructor whose parameters match its properties (or mark one with [JsonConstructor]). ({error.Message})";

    /// <summary>A type's name as C# writes it: <c>List&lt;InternalAdd&gt;</c>, not <c>List`1</c>.</summary>
    public static string Name(Type type)
    {
        if (type.IsArray)
        {
            return Name(type.GetElementType()!) + "[]";
        }

        if (Nullable.GetUnderlyingType(type) is { } underlying)
        {
            return Name(underlying) + "?";
        }

        if (!type.IsGenericType)
        {
            return type.Name;
        }

        var name = new StringBuilder(type.Name[..type.Name.IndexOf('`', StringComparison.Ordinal)]).Append('<');
        var arguments = type.GetGenericArguments();
        for (var i = 0; i < arguments.Length; i++)
        {
            name.Append(i == 0 ? string.Empty : ", ").Append(Name(arguments[i]));
        }

        return name.Append('>').ToString();
    }

    private static Exception Innermost(Exception error)
    {
        while (error.InnerException is { } inner)
        {
            error = inner;
        }

        return error;
    }

    /// <summary>The first type, in <paramref name="type"/> or the types of its public members, that code outside its assembly cannot see.</summary>
    private static Type? FirstNonPublic(Type type, HashSet<Type> seen)
    {
        if (type.IsGenericParameter || !seen.Add(type) || seen.Count > 64)
        {
            return null;
        }

        if (type.IsArray || type.IsPointer || type.IsByRef)
        {
            return FirstNonPublic(type.GetElementType()!, seen);
        }

        if (type.IsGenericType)
        {
            var definition = type.GetGenericTypeDefinition();
            if (!definition.IsVisible)
            {
                return type;
            }

            foreach (var argument in type.GetGenericArguments())
            {
                if (FirstNonPublic(argument, seen) is { } hidden)
                {
                    return hidden;
                }
            }
        }
        else if (!type.IsVisible)
        {
            return type;
        }

        if (type.IsPrimitive || type.IsEnum || type == typeof(string) || type.Assembly == typeof(object).Assembly)
        {
            return null;
        }

        foreach (var member in type.GetMembers(BindingFlags.Public | BindingFlags.Instance))
        {
            var memberType = member switch
            {
                PropertyInfo property when property.GetIndexParameters().Length == 0 => property.PropertyType,
                FieldInfo field => field.FieldType,
                _ => null,
            };
            if (memberType is not null && FirstNonPublic(memberType, seen) is { } hidden)
            {
                return hidden;
            }
        }

        return null;
    }

    /// <summary>The short name of the full type name that follows <paramref name="marker"/> in <paramref name="message"/>.</summary>
    private static string? NameAfter(string message, string marker)
    {
        var at = message.IndexOf(marker, StringComparison.Ordinal);
        if (at < 0)
        {
            return null;
        }

        var fullName = message[(at + marker.Length)..].Trim().Split(' ', ',')[0];
        return fullName[(fullName.LastIndexOfAny(['.', '+']) + 1)..];
    }
}
